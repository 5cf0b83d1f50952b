-- dbsessions: drop the session tables (MySQL 8.0+ / MariaDB 10.6+).

DROP TABLE `dbsessions_attribute` CASCADE;
DROP TABLE `dbsessions_session` CASCADE;
