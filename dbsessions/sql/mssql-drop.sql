-- dbsessions: drop the session tables (SQL Server 2019+).

DECLARE @sql_foreign_constraint_name nvarchar(128)
DECLARE @sql_drop_constraint nvarchar(300)
WHILE EXISTS(SELECT 1
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_ended]'))
BEGIN
    SELECT TOP 1 @sql_foreign_constraint_name = name
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_ended]')
    SELECT
    @sql_drop_constraint = 'ALTER TABLE [' + OBJECT_NAME(parent_object_id) + '] ' +
    'DROP CONSTRAINT [' + @sql_foreign_constraint_name + '] '
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_ended]') and name = @sql_foreign_constraint_name
    exec sp_executesql @sql_drop_constraint
END
DROP TABLE [dbsessions_ended];
DECLARE @sql_foreign_constraint_name nvarchar(128)
DECLARE @sql_drop_constraint nvarchar(300)
WHILE EXISTS(SELECT 1
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_lease]'))
BEGIN
    SELECT TOP 1 @sql_foreign_constraint_name = name
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_lease]')
    SELECT
    @sql_drop_constraint = 'ALTER TABLE [' + OBJECT_NAME(parent_object_id) + '] ' +
    'DROP CONSTRAINT [' + @sql_foreign_constraint_name + '] '
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_lease]') and name = @sql_foreign_constraint_name
    exec sp_executesql @sql_drop_constraint
END
DROP TABLE [dbsessions_lease];
DECLARE @sql_foreign_constraint_name nvarchar(128)
DECLARE @sql_drop_constraint nvarchar(300)
WHILE EXISTS(SELECT 1
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_imported]'))
BEGIN
    SELECT TOP 1 @sql_foreign_constraint_name = name
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_imported]')
    SELECT
    @sql_drop_constraint = 'ALTER TABLE [' + OBJECT_NAME(parent_object_id) + '] ' +
    'DROP CONSTRAINT [' + @sql_foreign_constraint_name + '] '
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_imported]') and name = @sql_foreign_constraint_name
    exec sp_executesql @sql_drop_constraint
END
DROP TABLE [dbsessions_imported];
DECLARE @sql_foreign_constraint_name nvarchar(128)
DECLARE @sql_drop_constraint nvarchar(300)
WHILE EXISTS(SELECT 1
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_attribute]'))
BEGIN
    SELECT TOP 1 @sql_foreign_constraint_name = name
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_attribute]')
    SELECT
    @sql_drop_constraint = 'ALTER TABLE [' + OBJECT_NAME(parent_object_id) + '] ' +
    'DROP CONSTRAINT [' + @sql_foreign_constraint_name + '] '
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_attribute]') and name = @sql_foreign_constraint_name
    exec sp_executesql @sql_drop_constraint
END
DROP TABLE [dbsessions_attribute];
DECLARE @sql_foreign_constraint_name nvarchar(128)
DECLARE @sql_drop_constraint nvarchar(300)
WHILE EXISTS(SELECT 1
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_session]'))
BEGIN
    SELECT TOP 1 @sql_foreign_constraint_name = name
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_session]')
    SELECT
    @sql_drop_constraint = 'ALTER TABLE [' + OBJECT_NAME(parent_object_id) + '] ' +
    'DROP CONSTRAINT [' + @sql_foreign_constraint_name + '] '
    FROM sys.foreign_keys
    WHERE referenced_object_id = object_id('[dbsessions_session]') and name = @sql_foreign_constraint_name
    exec sp_executesql @sql_drop_constraint
END
DROP TABLE [dbsessions_session];
