-- Sensors 360 schema: the sensor table's pages keep 30% free, so the checkpoint's updates can stay on their page.
-- Each checkpoint (SensorCheckpoint) writes a new version of the row of every sensor that beat in its period: at one
-- heartbeat a minute, a thirtieth of the fleet every 2 s, scattered over the pages or, when those sensors have
-- consecutive ids, whole pages. An update is HOT (no new entry in the primary key, the name index or the tags' GIN
-- index) only when the new row version fits on the old one's page. Packed full, as by default, the pages had no room:
-- 1% of the checkpoint's updates were HOT at 250,000 online sensors, and in a SQL trial the versions that moved bloated
-- the heap and both b-trees (docs/performance.md, "The sensor table's fill"). With this fill, rows rewritten a page at
-- a time move apart for the first few rewrites, then stay. It applies to rows written from now on, so an existing
-- table converges as its sensors beat; VACUUM FULL in a maintenance window gives back the space the moves left dead.
ALTER TABLE sensor SET (fillfactor = 70);
