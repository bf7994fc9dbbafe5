//! TODO(decoder helper): zrle decoder.
