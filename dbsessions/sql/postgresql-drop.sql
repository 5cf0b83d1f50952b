-- dbsessions: drop the session tables (PostgreSQL 13+).

DROP TABLE "dbsessions_ended" CASCADE;
DROP TABLE "dbsessions_lease" CASCADE;
DROP TABLE "dbsessions_imported" CASCADE;
DROP TABLE "dbsessions_attribute" CASCADE;
DROP TABLE "dbsessions_session" CASCADE;
