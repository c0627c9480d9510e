//! `autoconfig-host`: the reference runner (work in progress).

fn main() {}
