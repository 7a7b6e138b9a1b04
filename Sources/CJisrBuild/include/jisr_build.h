#ifndef JISR_BUILD_H
#define JISR_BUILD_H

/// The commit this executable was built from (12 hex digits, "-modified" when the tree had uncommitted changes),
/// or "unknown" outside a git checkout. Set by Package.swift from SwiftPM's git information: Swift's -D flags
/// carry no values, C's do.
const char *jisr_build_commit(void);

#endif
