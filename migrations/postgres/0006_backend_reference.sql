-- An assistant reply's ids at its backend, so that a learner's rating reaches the backend's own
-- analytics: Flowise's chatId (the request's) and chatMessageId (the stored answer's).
-- Keep in step with ../sqlite and ../mysql.
ALTER TABLE messages ADD COLUMN backend_chat_id TEXT;
ALTER TABLE messages ADD COLUMN backend_message_id TEXT;
