//! See the package description; the tests are in `tests/`.
