-- The course team's controls of an LTI resource link (starters, tutoring style, AI disclosure), as the
-- platform signed them in its deep-linking custom parameters: JSON, empty for the defaults.
-- MySQL gives TEXT no default: existing rows get '' by the UPDATE.
ALTER TABLE chat_contexts ADD COLUMN controls TEXT NULL;
UPDATE chat_contexts SET controls = '';
ALTER TABLE chat_contexts MODIFY controls TEXT NOT NULL;
