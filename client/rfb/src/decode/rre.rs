//! TODO(decoder helper): rre decoder.
