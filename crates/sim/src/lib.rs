//! Deterministic simulated network and virtual clock for sans-IO engines (tests only).
