//! Finds the built web console to embed, building it when it is missing or
//! older than its sources.
//!
//! - `YOI_WEB_DIST=<dir>`: embed this prebuilt directory (packaging, Nix).
//! - otherwise `web/workspace/dist`, rebuilt first with the web app's own Vite
//!   (after `npm install` if `node_modules` is missing) when it is stale.
//! - `YOI_SKIP_WEB_BUILD=1`, or no Node.js on the machine: when no build is
//!   there, a small page that says how to build the console is embedded
//!   instead, and the build prints a warning.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn main() {
    println!("cargo:rerun-if-env-changed=YOI_WEB_DIST");
    println!("cargo:rerun-if-env-changed=YOI_SKIP_WEB_BUILD");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());

    let dist = match std::env::var("YOI_WEB_DIST") {
        Ok(dir) if !dir.is_empty() => {
            // A directory is scanned whole: any rebuilt file re-embeds it.
            println!("cargo:rerun-if-changed={dir}");
            PathBuf::from(dir)
        }
        _ => local_build(&manifest.join("../../web/workspace")),
    };
    let dist = if dist.join("index.html").is_file() {
        dist
    } else {
        fallback(&out)
    };
    println!("cargo:rustc-env=YOI_WEB_DIST_DIR={}", dist.display());
}

fn local_build(web: &Path) -> PathBuf {
    let dist = web.join("dist");
    let sources = [
        "src",
        "index.html",
        "package.json",
        "vite.config.ts",
        "svelte.config.js",
    ];
    for s in sources {
        println!("cargo:rerun-if-changed={}", web.join(s).display());
    }
    println!("cargo:rerun-if-changed={}", dist.display());
    if !web.join("package.json").is_file() {
        return dist;
    }
    let built = mtime(&dist.join("index.html"));
    let newest_source = sources.iter().filter_map(|s| newest(&web.join(s))).max();
    let stale = match (built, newest_source) {
        (None, _) => true,
        (Some(b), Some(s)) => s > b,
        (Some(_), None) => false,
    };
    if !stale || std::env::var_os("YOI_SKIP_WEB_BUILD").is_some() {
        return dist;
    }
    if let Err(why) = build_web(web) {
        println!("cargo:warning=the web console was not built ({why}); run `npm install && npx vite build` in web/workspace");
    }
    dist
}

fn build_web(web: &Path) -> Result<(), String> {
    if !web.join("node_modules/vite").is_dir() {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(web))?;
    }
    run(Command::new("node")
        .args(["node_modules/vite/bin/vite.js", "build"])
        .current_dir(web))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{status}"))
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn newest(p: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(p).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(p)
        .ok()?
        .flatten()
        .filter_map(|e| newest(&e.path()))
        .max()
}

fn fallback(out: &Path) -> PathBuf {
    let dir = out.join("web-fallback");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join("index.html"),
        "<!doctype html><meta charset=utf-8><title>yoi</title>\
         <p>The yoi web console was not built into this binary. \
         Install Node.js, then rebuild yoi (it builds <code>web/workspace</code> itself), \
         or build it with <code>npm install && npx vite build</code> in <code>web/workspace</code>. \
         The API under <code>/api</code> works regardless.</p>",
    );
    dir
}
