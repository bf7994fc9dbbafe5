//! TODO(decoder helper): hextile decoder.
