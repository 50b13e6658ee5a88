-- One database per service: each keeps its own schema_migrations table.
CREATE DATABASE product_api_cache;
CREATE DATABASE auth_session;
CREATE DATABASE inventory_lock;
CREATE DATABASE game_leaderboard;
CREATE DATABASE chat_realtime;
