//! Tools a Worker may use. (Created with `names` only; the tool loop, grants
//! and sources join it.)

pub mod names;
