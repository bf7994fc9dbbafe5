//! X keysyms.
