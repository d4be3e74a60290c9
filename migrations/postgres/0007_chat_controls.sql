-- The course team's controls of an LTI resource link (starters, tutoring style, AI disclosure), as the
-- platform signed them in its deep-linking custom parameters: JSON, empty for the defaults.
ALTER TABLE chat_contexts ADD COLUMN controls TEXT NOT NULL DEFAULT '';
