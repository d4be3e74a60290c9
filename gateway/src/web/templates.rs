//! Page templates: embedded in the binary at build time; `TEMPLATE_DIR` overrides any of them by
//! name (theming), falling back to the embedded copy for the rest.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Environment;

/// Every template shipped in `templates/`. A test checks this list against the folder.
pub(crate) const EMBEDDED: &[(&str, &str)] = &[
    ("base.html", include_str!("../../../templates/base.html")),
    ("error.html", include_str!("../../../templates/error.html")),
    ("widget_mount.html", include_str!("../../../templates/widget_mount.html")),
    ("openedx/popup_callback.html", include_str!("../../../templates/openedx/popup_callback.html")),
    ("oauth2/login.html", include_str!("../../../templates/oauth2/login.html")),
    ("lti/launch.html", include_str!("../../../templates/lti/launch.html")),
    ("lti/deep_link.html", include_str!("../../../templates/lti/deep_link.html")),
    ("lti/storage.html", include_str!("../../../templates/lti/storage.html")),
    ("instructor/dashboard.html", include_str!("../../../templates/instructor/dashboard.html")),
    ("standalone/index.html", include_str!("../../../templates/standalone/index.html")),
];

#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// Loads and compiles every template now, so a broken theme stops start-up, not a request.
    pub fn new(override_dir: Option<PathBuf>) -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_loader(move |name| {
            // Names come from our code and from templates; refuse anything that climbs out.
            if name.split(['/', '\\']).any(|part| part == ".." || part.is_empty()) {
                return Ok(None);
            }
            if let Some(dir) = &override_dir {
                let path = dir.join(name);
                if path.is_file() {
                    return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                        minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("cannot read template {name}"),
                        )
                        .with_source(e)
                    });
                }
            }
            Ok(EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, src)| (*src).to_owned()))
        });
        for (name, _) in EMBEDDED {
            env.get_template(name)?;
        }
        Ok(Self { env: Arc::new(env) })
    }

    pub fn render(&self, name: &str, ctx: impl serde::Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(minijinja::value::Serde(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).expect("templates folder") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "html") {
                    on_disk.push(path.strip_prefix(&root).expect("inside").to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn override_dir_replaces_one_template_and_keeps_the_rest() {
        let dir = std::env::temp_dir().join(format!("ibal-theme-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("error.html"), "THEMED {{ status }}").expect("write");
        let templates = Templates::new(Some(dir.clone())).expect("load");
        assert_eq!(
            templates.render("error.html", minijinja::context! { status => 404 }).expect("render"),
            "THEMED 404"
        );
        let base = templates.render("base.html", minijinja::context! { csp_nonce => "n" }).expect("embedded base");
        assert!(base.contains("<html"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn names_cannot_escape_the_theme_folder() {
        let templates = Templates::new(None).expect("load");
        assert!(templates.render("../Cargo.toml", ()).is_err());
        assert!(templates.render("/etc/passwd", ()).is_err());
    }

    #[test]
    fn html_is_escaped() {
        let templates = Templates::new(None).expect("load");
        let page = templates
            .render("error.html", minijinja::context! { csp_nonce => "n", status => 400, title => "<b>x</b>", message => "<script>alert(1)</script>" })
            .expect("render");
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains("&lt;script&gt;"));
    }
}
