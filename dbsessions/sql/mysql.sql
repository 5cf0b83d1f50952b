-- dbsessions: session tables for MySQL 8.0.17+.
-- The statements `manage.py migrate` runs for this app. After running them,
-- `manage.py install_session_schema` records the migrations as applied.

CREATE TABLE `dbsessions_session` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `key_hash` varchar(64) NOT NULL, `app_name` varchar(100) COLLATE `utf8mb4_0900_bin` NOT NULL, `principal` varchar(255) COLLATE `utf8mb4_0900_bin` NULL, `created_at` datetime(6) NOT NULL, `last_access` datetime(6) NOT NULL, `expires_at` datetime(6) NOT NULL, `client_ip` char(39) NULL, `user_agent` varchar(255) NULL, CONSTRAINT `dbsessions_session_key_hash` UNIQUE (`key_hash`));
CREATE TABLE `dbsessions_attribute` (`name` varchar(200) COLLATE `utf8mb4_0900_bin` NOT NULL, `value` longblob NOT NULL, `session_id` bigint NOT NULL, PRIMARY KEY (`session_id`, `name`));
CREATE TABLE `dbsessions_imported` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `app_name` varchar(100) COLLATE `utf8mb4_0900_bin` NOT NULL, `key_hash` varchar(64) NOT NULL, `expires_at` datetime(6) NOT NULL, CONSTRAINT `dbsessions_imported_app_key` UNIQUE (`app_name`, `key_hash`));
CREATE TABLE `dbsessions_lease` (`name` varchar(64) COLLATE `utf8mb4_0900_bin` NOT NULL PRIMARY KEY, `holder` varchar(64) COLLATE `utf8mb4_0900_bin` NOT NULL, `expires_at` datetime(6) NOT NULL);
CREATE TABLE `dbsessions_ended` (`id` bigint AUTO_INCREMENT NOT NULL PRIMARY KEY, `app_name` varchar(100) COLLATE `utf8mb4_0900_bin` NOT NULL, `ended_at` datetime(6) NOT NULL, `reason` varchar(32) NOT NULL, `sessions` integer NOT NULL);
ALTER TABLE `dbsessions_attribute` ADD CONSTRAINT `dbsessions_attribute_session_id_7e5b442a_fk_dbsession` FOREIGN KEY (`session_id`) REFERENCES `dbsessions_session` (`id`);
CREATE INDEX `dbsessions_ended_ended_at_2c38de1e` ON `dbsessions_ended` (`ended_at`);
CREATE INDEX `dbsessions_session_expires_at_b1e67225` ON `dbsessions_session` (`expires_at`);
CREATE INDEX `dbsessions_session_principal` ON `dbsessions_session` (`principal`);
