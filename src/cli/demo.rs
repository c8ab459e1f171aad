//! `tgsift demo`: the whole job on an embedded simulated Telegram (the `sim` feature).

use std::path::PathBuf;

use clap::Args;

use super::run::{print_summary, print_tagging, shutdown_on_signals};

/// Options of `tgsift demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to leave the demo database.
    #[arg(long, default_value = "demo.db")]
    pub out: PathBuf,
    /// Posts in all (split over three channels: Russian, English, mixed).
    #[arg(long, default_value_t = 21_000)]
    pub posts: i32,
}

/// `tgsift demo`: see [`crate::runtime::demo`]; prints what it did.
pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let say = |line: String| println!("{line}");
    let r = crate::runtime::demo::run(&args.out, args.posts, &say, shutdown_on_signals()).await?;
    println!();
    print_summary(&r.ingest);
    print_tagging(&r.tagging);
    println!("\ntags per channel:");
    for c in &r.channels {
        let names: Vec<&str> = c.top.iter().map(|(t, _)| t.as_str()).collect();
        println!(
            "  {:<14} {:>6} of {:>6} posts tagged, {:>5} distinct tags; top: {}",
            c.channel,
            c.with_tags,
            c.posts,
            c.distinct,
            names.join(", ")
        );
    }
    let top: Vec<String> = r.top.iter().map(|(t, n)| format!("{t} ({n})")).collect();
    println!("top tags: {}", top.join(", "));
    println!("\nposts and tags are in {}", args.out.display());
    println!(
        "explore it: tgsift --db {} channels list; tgsift --db {} posts list --tag \"{}\"",
        args.out.display(),
        args.out.display(),
        r.channels
            .first()
            .and_then(|c| c.top.first())
            .map(|t| t.0.as_str())
            .unwrap_or("")
    );
    if let Some(c) = r.ingest.failed().first() {
        anyhow::bail!(
            "channel {} did not finish: {}",
            c.channel,
            c.error.as_deref().unwrap_or("")
        );
    }
    Ok(())
}
