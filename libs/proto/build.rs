//! Compiles `proto/ghstats/v1/*.proto` with protox (pure Rust, no `protoc`)
//! and generates prost messages and tonic clients and servers from them.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "backfill.proto",
        "scheduler.proto",
        "worker.proto",
        "gateway.proto",
    ]
    .map(|f| proto_root.join("ghstats/v1").join(f));
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let descriptors = protox::compile(&files, [&proto_root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
