//! BS.1770 / EBU R 128 loudness measurement and true peak.
