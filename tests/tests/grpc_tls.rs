//! gRPC over TLS (`services.grpc_tls`): a worker serves WorkerControl over
//! TLS with a certificate signed by a test CA; `ghstats ctl` with the CA
//! reaches it, a plain-text caller does not, and a config that enables TLS
//! without its files is refused with the key named.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use ghstats_core::Shutdown;
use ghstats_queue::{JobQueue, MemoryQueue};
use ghstats_runtime::ServiceListeners;
use ghstats_standalone::ctl::{CtlArgs, CtlCommand, run};
use ghstats_store::{MemoryStore, Store, StoreSettings};
use ghstats_testkit::{eventually, world};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// Writes ca.pem, cert.pem and key.pem (for "localhost") into `dir`.
fn certificates(dir: &std::path::Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn ctl_reaches_a_worker_over_tls_and_plain_text_does_not() {
    let shutdown = Shutdown::new();
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let d = dir.path().display();
    let tls = format!(
        "services:\n  grpc_tls:\n    enabled: true\n    cert_file: {d}/cert.pem\n    key_file: {d}/key.pem\n    ca_file: {d}/ca.pem\n    server_name: localhost\n"
    );
    let w = world(&shutdown, &tls);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreSettings::from_config(
        &w.config.store,
    )));
    let queue: Arc<dyn JobQueue> = Arc::new(MemoryQueue::new(ghstats_testkit::unique_topology(
        &w.config, "tls",
    )));
    let listeners = ServiceListeners::ephemeral().await.unwrap();
    let worker = format!("http://{}", listeners.grpc_addr());
    tokio::spawn(ghstats_worker::serve_with(
        (*w.config).clone(),
        ghstats_worker::Deps {
            store,
            queue,
            link: None,
        },
        listeners,
        shutdown.clone(),
    ));
    let config_file = dir.path().join("ctl.yaml");
    std::fs::write(&config_file, &tls).unwrap();
    let args = |config: Option<std::path::PathBuf>| CtlArgs {
        config,
        schedulers: vec!["http://127.0.0.1:1".into()],
        workers: vec![worker.clone()],
        token_file: None,
        json: false,
        command: CtlCommand::Status,
    };
    let reached = eventually(Duration::from_secs(10), || async {
        run(&args(Some(config_file.clone())))
            .await
            .is_ok_and(|out| out.contains("consuming"))
    })
    .await;
    assert!(reached, "{:?}", run(&args(Some(config_file.clone()))).await);
    let plain = run(&args(None)).await.unwrap();
    assert!(
        plain.contains(&format!(
            "worker {}: unreachable",
            worker.trim_start_matches("http://")
        )),
        "{plain}"
    );

    let broken = ghstats_config::load_str(
        "services:\n  grpc_tls:\n    enabled: true\n",
        "broken.yaml",
        Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(broken.contains("services.grpc_tls.cert_file"), "{broken}");
    shutdown.trigger();
}
