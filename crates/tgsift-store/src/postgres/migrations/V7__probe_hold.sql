-- After a long FLOOD_WAIT the pacer does not probe above a method's learned limit for hours
-- (`telegram.probe_hold`); when that hold ends (unix milliseconds) is kept with the learned rate, so a
-- restart or another worker does not start probing again at once.
ALTER TABLE pacer_state ADD COLUMN hold_until_ms BIGINT;
