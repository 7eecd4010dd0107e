//! How the linked crypto was built: what `.cargo/config.toml`'s `[env]` asks of every build
//! (docs/building.md#cpu-jitter-entropy).

/// Whether the linked aws-lc seeds its random generator without the CPU-jitter entropy source
/// (built with `AWS_LC_SYS_NO_JITTER_ENTROPY=1`): the cold start's first TLS handshake or RSA
/// signature then costs no ~45 ms jitter sampling. Asks aws-lc itself which entropy source it
/// selected, so it answers for the library that was really linked, not for a variable's value.
pub fn jitter_entropy_disabled() -> bool {
    aws_lc_rs::try_fips_cpu_jitter_entropy().is_err()
}

#[cfg(test)]
mod tests {
    /// Fails when aws-lc-sys was built without `AWS_LC_SYS_NO_JITTER_ENTROPY=1`: the test binary is
    /// built by the same cargo, with the same `[env]`, as the function binaries and the zips.
    #[test]
    fn the_linked_aws_lc_does_not_sample_cpu_jitter() {
        assert!(
            super::jitter_entropy_disabled(),
            "aws-lc-sys was built with CPU-jitter entropy: AWS_LC_SYS_NO_JITTER_ENTROPY=1 (.cargo/config.toml [env]) did not reach its build script"
        );
    }
}
