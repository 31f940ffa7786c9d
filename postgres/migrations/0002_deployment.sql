-- A random identity of this database. State kept outside the database on
-- its behalf (the Redis key prefix) is named after it, so that two
-- databases sharing one Redis never see each other's entries.
CREATE TABLE deployment (
    id text PRIMARY KEY
);
INSERT INTO deployment (id) VALUES (replace(gen_random_uuid()::text, '-', ''));
