-- Sensors 360 schema: the sensor table's pages keep 30% free, so the checkpoint's updates can stay on their page.
-- Each checkpoint (SensorCheckpoint) moves the counters of the sensors that beat in its period: at one heartbeat a
-- minute, a thirtieth of every page's rows every 2 s. An update is HOT (no new entry in the primary key, the name
-- index or the tags' GIN index) only when the new row version fits on the old one's page. Packed full, as by default,
-- the pages had no room: 1% of the checkpoint's updates were HOT at 250,000 online sensors (75% with this fill), and
-- in a SQL trial the versions that moved bloated the heap and both b-trees (docs/performance.md, "The sensor table's
-- fill"). It applies to rows written from now on: the rows an update moves go to pages filled to at most 70%, so an
-- existing table converges as its sensors beat (or at once, rewritten by VACUUM FULL in a maintenance window).
ALTER TABLE sensor SET (fillfactor = 70);
