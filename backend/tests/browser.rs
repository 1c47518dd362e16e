//! The sign-in page in a real browser (Debian's Chromium through its WebDriver): email, a
//! wrong code with the attempts left shown, the right code, the claims, a reload that stays
//! signed in, sign-out and a reload that does not. Each step's
//! screenshot lands in `target/browser-screenshots/` for a person to look at.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{served, wrong};
use fantoccini::{Client, ClientBuilder, Locator};

/// chromedriver, started by this test and stopped by its process id when the test ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program(variable: &str) -> String {
    if let Ok(why) = std::env::var("BROWSER_UNAVAILABLE") {
        panic!("no browser for this test: {why}");
    }
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set; the browser test needs Debian's chromium and chromium-driver: \
             run `cargo xtask test`, which installs them where missing, or install them \
             (`apt-get install chromium chromium-driver`) and set CHROMIUM=/usr/bin/chromium \
             CHROMEDRIVER=/usr/bin/chromedriver"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the element's text contains `expected`, for up to ten seconds.
async fn wait_for_text(browser: &Client, id: &str, expected: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = browser
            .find(Locator::Id(id))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains(expected) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "#{id} never showed {expected:?}; it shows {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_person_signs_in_on_the_page_after_one_wrong_code() {
    let (chromium, chromedriver) = (program("CHROMIUM"), program("CHROMEDRIVER"));
    let email = "dana@browser.example";
    let service = served("", &[email]);
    let port = free_port();
    let _driver = Driver(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {chromedriver}: {e}")),
    );
    service.runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=900,900"]
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let browser = loop {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
            {
                Ok(browser) => break browser,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("chromedriver on {webdriver} did not start a browser: {e}"),
            }
        };

        browser.goto(&service.base).await.unwrap();
        let label = browser
            .find(Locator::Css("label[for=email]"))
            .await
            .unwrap();
        assert_eq!(label.text().await.unwrap(), "Email address");
        shot(&browser, "1-email").await;
        // The keyboard alone: type, then Enter submits the form.
        browser
            .find(Locator::Id("email"))
            .await
            .unwrap()
            .send_keys(&format!("{email}\u{E007}"))
            .await
            .unwrap();
        let sent = wait_for_text(&browser, "sent-to", "d***@browser.example").await;
        assert!(sent.contains("6-digit code"), "{sent}");
        wait_for_text(&browser, "code-help", "3 attempts left").await;
        shot(&browser, "2-code-sent").await;

        let code = service.code_for(email, &[]);
        let field = browser.find(Locator::Id("code")).await.unwrap();
        field
            .send_keys(&format!("{}\u{E007}", wrong(&code)))
            .await
            .unwrap();
        let status = wait_for_text(&browser, "status", "2 attempts left").await;
        assert!(status.contains("not right"), "{status}");
        shot(&browser, "3-wrong-code").await;

        let field = browser.find(Locator::Id("code")).await.unwrap();
        field.send_keys(&format!("{code}\u{E007}")).await.unwrap();
        wait_for_text(&browser, "signed-in-as", &format!("Signed in as {email}")).await;
        let claims = browser
            .find(Locator::Id("claims"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let claims: serde_json::Value = serde_json::from_str(&claims).unwrap();
        assert_eq!(claims["email"], email);
        assert_eq!(claims["token_use"], "id");
        // The refresh token is an HttpOnly cookie: scripts on the page cannot read it.
        let visible = browser
            .execute("return document.cookie", vec![])
            .await
            .unwrap();
        assert_eq!(visible, serde_json::json!(""));
        let stored = browser
            .execute(
                "return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            stored,
            serde_json::json!("{}{}"),
            "tokens went to web storage"
        );
        shot(&browser, "4-signed-in").await;

        // A reload keeps the sign-in through the cookie, without another code.
        let mails = service.mails_to(email);
        browser.refresh().await.unwrap();
        wait_for_text(&browser, "signed-in-as", &format!("Signed in as {email}")).await;
        assert_eq!(service.mails_to(email), mails);

        browser
            .find(Locator::Id("sign-out"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for_text(&browser, "status", "Signed out.").await;
        // Signed out, a reload shows the email step: the cookie is gone.
        // (The page asks /auth/refresh as it loads; a second is ample on loopback.)
        browser.refresh().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let signed_in = browser.find(Locator::Id("signed-in")).await.unwrap();
        assert!(signed_in.attr("hidden").await.unwrap().is_some());
        browser.close().await.unwrap();
    });
}
