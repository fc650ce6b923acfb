-- Triggers record the language their script is written in: 'rhai' (the default) or
-- 'xanoscript' (a Xano realtime_trigger definition, stored as given and compiled to Rhai
-- when loaded), and the Xano branch a metadata-API client saved them on.
ALTER TABLE triggers ADD COLUMN language TEXT NOT NULL DEFAULT 'rhai';
ALTER TABLE triggers ADD COLUMN branch TEXT NOT NULL DEFAULT '';
