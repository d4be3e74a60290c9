//! Embeds the built chat widget (xblock-widget/pkg, made by scripts/build-widget.sh) when it exists,
//! so one binary serves the widget and the protocol it speaks. Without it the gateway still builds
//! and says, at /static/widget/…, how to build the widget.

use std::path::Path;

const FILES: [(&str, &str); 3] = [
    ("IBAL_WIDGET_JS", "ibal_widget.js"),
    ("IBAL_WIDGET_WASM", "ibal_widget_bg.wasm"),
    ("IBAL_WIDGET_CSS", "ibal_widget.css"),
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(ibal_widget)");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let pkg = Path::new(&manifest).join("../xblock-widget/pkg");
    println!("cargo::rerun-if-changed={}", pkg.display());
    for (_, file) in FILES {
        println!("cargo::rerun-if-changed={}", pkg.join(file).display());
    }
    if FILES.iter().all(|(_, file)| pkg.join(file).is_file()) {
        println!("cargo::rustc-cfg=ibal_widget");
        for (var, file) in FILES {
            let path = pkg.join(file).canonicalize().unwrap_or_else(|_| pkg.join(file));
            println!("cargo::rustc-env={var}={}", path.display());
        }
    }
}
