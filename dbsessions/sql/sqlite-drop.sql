-- dbsessions: drop the session tables (SQLite 3.31+).

DROP TABLE "dbsessions_ended";
DROP TABLE "dbsessions_lease";
DROP TABLE "dbsessions_imported";
DROP TABLE "dbsessions_attribute";
DROP TABLE "dbsessions_session";
