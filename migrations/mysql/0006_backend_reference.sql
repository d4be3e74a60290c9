-- An assistant reply's ids at its backend, so that a learner's rating reaches the backend's own
-- analytics: Flowise's chatId (the request's) and chatMessageId (the stored answer's).
-- Keep in step with ../sqlite and ../postgres.
ALTER TABLE messages ADD COLUMN backend_chat_id VARCHAR(255) NULL;
ALTER TABLE messages ADD COLUMN backend_message_id VARCHAR(255) NULL;
