//! The macOS backend (issue 14). So far its pure part: the Seatbelt profile generated from
//! the compiled policy ([`profile`]), built and tested on every platform.

pub mod extras;
mod files;
pub mod profile;
mod regex;
mod sbpl;
mod system;

#[cfg(test)]
mod tests;
