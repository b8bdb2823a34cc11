//! How long the sandbox takes to be up (seeded and answering) with 100 000 flagged users.
//! `cargo bench --bench sandbox_start` (release). The issue asks for under 2 s.

use discourse_sandbox::{Sandbox, Scenario};
use std::time::Instant;

fn main() {
    let flagged: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for run in 0..3 {
            let t = Instant::now();
            let sb = Sandbox::start(Scenario { flagged, ..Scenario::default() }).await.expect("sandbox starts");
            let started = t.elapsed();
            let client = reqwest::Client::new();
            let r = client
                .get(format!("{}/review.json", sb.url()))
                .header("Api-Key", sb.api_key())
                .header("Api-Username", sb.api_username())
                .send()
                .await
                .expect("review answers");
            assert!(r.status().is_success());
            let first_page = t.elapsed();
            let r = client.get(sb.flagged_url()).bearer_auth(sb.main_app_token()).send().await.expect("flagged answers");
            assert!(r.status().is_success());
            println!(
                "run {run}: sandbox with {flagged} flagged users started in {:.0} ms; first /review.json page at {:.0} ms; first flagged page at {:.0} ms",
                started.as_secs_f64() * 1000.0,
                first_page.as_secs_f64() * 1000.0,
                t.elapsed().as_secs_f64() * 1000.0
            );
            sb.shutdown();
        }
    });
}
