//! End-to-end tests of the dashboard: real nats-server, a real `lattice up --demo` host with
//! the real providers, `lattice ui` as a process, and Debian's chromium driven through
//! chromedriver (WebDriver) reading the page's DOM.

#![allow(clippy::unwrap_used, reason = "tests unwrap: a panic is the failure report")]

mod browser;
mod procs;
