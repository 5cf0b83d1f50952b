-- dbsessions: session tables for SQL Server 2019+.
-- The statements `manage.py migrate` runs for this app. After running them,
-- `manage.py install_session_schema` records the migrations as applied.

CREATE TABLE [dbsessions_session] ([id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [key_hash] nvarchar(64) NOT NULL, [app_name] nvarchar(100)  COLLATE Latin1_General_100_BIN2 NOT NULL, [principal] nvarchar(255)  COLLATE Latin1_General_100_BIN2 NULL, [created_at] datetimeoffset NOT NULL, [last_access] datetimeoffset NOT NULL, [expires_at] datetimeoffset NOT NULL, [client_ip] nvarchar(39) NULL, [user_agent] nvarchar(255) NULL, CONSTRAINT [dbsessions_session_key_hash] UNIQUE ([key_hash]));
CREATE TABLE [dbsessions_attribute] ([name] nvarchar(200)  COLLATE Latin1_General_100_BIN2 NOT NULL, [value] varbinary(max) NOT NULL, [session_id] bigint NOT NULL, PRIMARY KEY ([session_id], [name]));
CREATE TABLE [dbsessions_imported] ([id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [app_name] nvarchar(100)  COLLATE Latin1_General_100_BIN2 NOT NULL, [key_hash] nvarchar(64) NOT NULL, [expires_at] datetimeoffset NOT NULL, CONSTRAINT [dbsessions_imported_app_key] UNIQUE ([app_name], [key_hash]));
CREATE TABLE [dbsessions_lease] ([name] nvarchar(64)  COLLATE Latin1_General_100_BIN2 NOT NULL PRIMARY KEY, [holder] nvarchar(64)  COLLATE Latin1_General_100_BIN2 NOT NULL, [expires_at] datetimeoffset NOT NULL);
CREATE TABLE [dbsessions_ended] ([id] bigint NOT NULL PRIMARY KEY IDENTITY (1, 1), [app_name] nvarchar(100)  COLLATE Latin1_General_100_BIN2 NOT NULL, [ended_at] datetimeoffset NOT NULL, [reason] nvarchar(32) NOT NULL, [sessions] int NOT NULL);
ALTER TABLE [dbsessions_attribute] ADD CONSTRAINT [dbsessions_attribute_session_id_7e5b442a_fk_dbsessions_session_id] FOREIGN KEY ([session_id]) REFERENCES [dbsessions_session] ([id]);
CREATE INDEX [dbsessions_ended_ended_at_2c38de1e] ON [dbsessions_ended] ([ended_at]);
CREATE INDEX [dbsessions_session_expires_at_b1e67225] ON [dbsessions_session] ([expires_at]);
CREATE INDEX [dbsessions_session_principal] ON [dbsessions_session] ([principal]);
