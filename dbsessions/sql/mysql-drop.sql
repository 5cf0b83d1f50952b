-- dbsessions: drop the session tables (MySQL 8.0.17+).

DROP TABLE `dbsessions_ended` CASCADE;
DROP TABLE `dbsessions_lease` CASCADE;
DROP TABLE `dbsessions_imported` CASCADE;
DROP TABLE `dbsessions_attribute` CASCADE;
DROP TABLE `dbsessions_session` CASCADE;
