-- dbsessions: session tables for SQLite 3.31+.
-- The statements `manage.py migrate` runs for this app. After running them,
-- `manage.py install_session_schema` records the migrations as applied.

CREATE TABLE "dbsessions_session" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "key_hash" varchar(64) NOT NULL, "app_name" varchar(100) NOT NULL, "principal" varchar(255) NULL, "created_at" datetime NOT NULL, "last_access" datetime NOT NULL, "expires_at" datetime NOT NULL, "client_ip" char(39) NULL, "user_agent" varchar(255) NULL, CONSTRAINT "dbsessions_session_key_hash" UNIQUE ("key_hash"));
CREATE TABLE "dbsessions_attribute" ("name" varchar(200) NOT NULL, "value" BLOB NOT NULL, "session_id" bigint NOT NULL REFERENCES "dbsessions_session" ("id") DEFERRABLE INITIALLY DEFERRED, PRIMARY KEY ("session_id", "name"));
CREATE TABLE "dbsessions_imported" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "app_name" varchar(100) NOT NULL, "key_hash" varchar(64) NOT NULL, "expires_at" datetime NOT NULL, CONSTRAINT "dbsessions_imported_app_key" UNIQUE ("app_name", "key_hash"));
CREATE TABLE "dbsessions_lease" ("name" varchar(64) NOT NULL PRIMARY KEY, "holder" varchar(64) NOT NULL, "expires_at" datetime NOT NULL);
CREATE TABLE "dbsessions_ended" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "app_name" varchar(100) NOT NULL, "ended_at" datetime NOT NULL, "reason" varchar(32) NOT NULL, "sessions" integer NOT NULL);
CREATE INDEX "dbsessions_ended_ended_at_2c38de1e" ON "dbsessions_ended" ("ended_at");
CREATE INDEX "dbsessions_session_expires_at_b1e67225" ON "dbsessions_session" ("expires_at");
CREATE INDEX "dbsessions_session_principal" ON "dbsessions_session" ("principal");
