//! The small help pages: `/` (what this is) and `/{channel}` in a browser (how to use it).
//! Every interpolated value is HTML-escaped (the base URL comes from the Host header).

/// The `/` page as HTML.
pub(crate) fn index_html(base: &str) -> String {
    let b = escape(base);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookrelay relay</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code,pre{{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}}pre{{padding:.6rem;overflow-x:auto}}</style></head>
<body><h1>hookrelay relay</h1>
<p>A Smee-compatible webhook relay. Webhooks sent to a channel URL are streamed to whoever is
subscribed to it (server-sent events), byte-exact for hookrelay clients; smee-client and pysmee
work unchanged.</p>
<p><a href="{b}/new">Start a new channel</a> (or <code>GET {b}/new</code>: a redirect to a fresh channel URL).</p>
<h2>Use a channel</h2>
<pre>hookrelay forward {b}/&lt;channel&gt; http://localhost:3000/webhook
curl -X POST -H 'content-type: application/json' -d '{{"hello":"world"}}' {b}/&lt;channel&gt;</pre>
<p>Any method, sub-path (<code>/&lt;channel&gt;/any/path?query</code>), content type and body
(up to the size limit) is accepted and relayed.</p>
</body></html>
"#
    )
}

/// The `/` page as plain text (for curl and other non-browsers).
pub(crate) fn index_text(base: &str) -> String {
    format!(
        "hookrelay relay: a Smee-compatible webhook relay.\n\n\
         New channel:      curl -i {base}/new   (307 redirect to a fresh channel URL)\n\
         Send a webhook:   curl -X POST -H 'content-type: application/json' -d '{{\"hello\":\"world\"}}' {base}/<channel>\n\
         Forward locally:  hookrelay forward {base}/<channel> http://localhost:3000/webhook\n\
         Watch raw events: curl -N -H 'accept: text/event-stream' {base}/<channel>\n"
    )
}

/// The page a browser gets for `GET /{channel}`.
pub(crate) fn channel_html(base: &str, channel: &str) -> String {
    let url = escape(&format!("{base}/{channel}"));
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hookrelay channel</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code,pre{{background:#f4f4f4;padding:.1rem .3rem;border-radius:3px}}pre{{padding:.6rem;overflow-x:auto}}</style></head>
<body><h1>Channel</h1>
<p>Webhook URL: <code>{url}</code></p>
<p>Point your webhook sender at this URL (any method, sub-path, content type and body), then
receive the webhooks locally:</p>
<pre>hookrelay forward {url} http://localhost:3000/webhook</pre>
<p>or with smee-client: <code>smee -u {url} -t http://localhost:3000/webhook</code></p>
<p>Send a test webhook:</p>
<pre>curl -X POST -H 'content-type: application/json' -d '{{"hello":"world"}}' {url}</pre>
<p>Watch the raw event stream:</p>
<pre>curl -N -H 'accept: text/event-stream' '{url}?wire=hookrelay'</pre>
</body></html>
"#
    )
}

/// Escape text for HTML content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_the_host() {
        let p = channel_html("http://<x>\"", "abc");
        assert!(p.contains("http://&lt;x&gt;&quot;/abc"));
        assert!(!p.contains("<x>"));
        assert!(index_html("http://h").contains("http://h/new"));
        assert!(index_text("http://h").contains("curl -i http://h/new"));
    }
}
