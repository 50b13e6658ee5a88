-- The archive of acknowledged chat messages: what outlives Redis (a restart with empty data, a
-- stream trimmed by its cap). One row per message; (room, offset) is its place in the room.
CREATE TABLE chat_messages (
  room text NOT NULL,
  "offset" bigint NOT NULL CHECK ("offset" > 0),
  epoch text NOT NULL,
  id text NOT NULL,
  id_ms bigint NOT NULL,
  id_seq numeric(20, 0) NOT NULL,
  user_id text NOT NULL,
  username text NOT NULL,
  body text NOT NULL,
  client_msg_id text NOT NULL,
  archived_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (room, "offset")
);

-- History pages go by message id (the stream id's two numbers), newest first.
CREATE INDEX chat_messages_by_id ON chat_messages (room, id_ms DESC, id_seq DESC);
