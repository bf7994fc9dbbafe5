//! The connection state machine (work in progress).
pub struct Config;
pub struct Connection;
pub struct Credentials;
pub enum Event {}
pub enum PixelFormatChoice {}
pub enum State {}
