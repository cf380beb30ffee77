// The console's own script (no inline script anywhere: the CSP forbids it).
// Two progress bars: the CSV import on the invite page, which posts the parsed
// rows in batches, and the document upload on a project's page, which PUTs
// the file to its signed URL. Each part starts only when its form is present.
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  /** The form's CSRF token, sent as X-CSRF-Token. */
  function csrf(form) {
    return form.querySelector("input[name=csrf_token]").value;
  }

  /** The sentence a problem+json answer carries, or the status. */
  async function problem(res) {
    try {
      var body = await res.json();
      if (body.errors && body.errors.length) {
        return "The " + body.errors[0].field.replace(/_/g, " ") + " " + body.errors[0].message + ".";
      }
      return body.detail || body.title || "Refused (" + res.status + ")";
    } catch (e) {
      return "Refused (" + res.status + ")";
    }
  }

  function post(form, url, body, type) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf(form), "Content-Type": type, "Accept": "application/json" },
      body: body,
    });
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) {
      var tag = document.createElement("span");
      tag.className = className;
      tag.textContent = text;
      td.appendChild(tag);
    } else {
      td.textContent = text;
    }
    tr.appendChild(td);
  }

  // ------------------------------------------------------------ CSV import
  var BATCH = 10;

  function setupImport(form) {
    var file = document.getElementById("csv-file");
    var text = document.getElementById("csv-text");
    var bar = document.getElementById("import-progress");
    var status = document.getElementById("import-status");
    var results = document.getElementById("import-results");
    var tbody = results.querySelector("tbody");
    var button = form.querySelector("button[type=submit]");

    file.addEventListener("change", async function () {
      if (file.files[0]) {
        text.value = await file.files[0].text();
      }
    });

    function addResult(line, email, ok, label, detail) {
      var tr = document.createElement("tr");
      cell(tr, String(line));
      cell(tr, email);
      cell(tr, label, ok ? "tag good" : "tag bad");
      cell(tr, detail);
      tr.dataset.line = String(line);
      // In file order, whichever batch answers first.
      var after = Array.prototype.find.call(tbody.rows, function (r) { return Number(r.dataset.line) > line; });
      tbody.insertBefore(tr, after || null);
      results.hidden = false;
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var csv = text.value.trim() ? text.value : file.files[0] ? await file.files[0].text() : "";
      tbody.textContent = "";
      results.hidden = true;
      button.disabled = true;
      bar.value = 0;
      status.textContent = "Reading the file…";
      try {
        var res = await post(form, form.dataset.parseUrl, new URLSearchParams({ csv: csv }),
          "application/x-www-form-urlencoded");
        if (!res.ok) {
          status.textContent = res.status === 413
            ? "The CSV is larger than 64 KiB: split it into smaller files."
            : await problem(res);
          return;
        }
        var parsed = await res.json();
        var failed = parsed.errors.length, created = 0, total = parsed.rows.length;
        parsed.errors.forEach(function (e) { addResult(e.line, "", false, "not read", e.detail); });
        bar.max = Math.max(total, 1);
        for (var i = 0; i < total; i += BATCH) {
          var batch = parsed.rows.slice(i, i + BATCH);
          var answer = await post(form, form.dataset.rowsUrl, JSON.stringify({ rows: batch }), "application/json");
          if (answer.ok) {
            (await answer.json()).results.forEach(function (r) {
              if (r.success) { created += 1; } else { failed += 1; }
              addResult(r.line, r.email, r.success, r.success ? "created" : "refused (" + r.status + ")", r.detail);
            });
          } else {
            var why = await problem(answer);
            batch.forEach(function (r) { failed += 1; addResult(r.line, r.email, false, "refused (" + answer.status + ")", why); });
          }
          bar.value = Math.min(i + batch.length, total);
          status.textContent = bar.value + " of " + total + " rows…";
        }
        if (total === 0) { bar.value = 1; }
        status.textContent = "Done: " + created + " created, " + failed + " failed.";
      } catch (e) {
        status.textContent = "The import stopped: " + e.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  // ------------------------------------------------------------ Upload
  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  /** SHA-256 of files up to 32 MiB, so the server checks the bytes it got. */
  async function digest(file) {
    if (!window.crypto || !window.crypto.subtle || file.size > 32 * 1024 * 1024) { return null; }
    return hex(await window.crypto.subtle.digest("SHA-256", await file.arrayBuffer()));
  }

  /** PUT `file` to `url`, moving `bar` with the upload's progress events. */
  function put(url, method, file, bar, status) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      var events = 0;
      xhr.open(method || "PUT", url);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) { return; }
        events += 1;
        bar.dataset.progressEvents = String(events);
        bar.max = e.total;
        bar.value = e.loaded;
        status.textContent = "Uploading: " + Math.floor((e.loaded * 100) / e.total) + " %";
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(); return; }
        var detail = "The storage refused the file (" + xhr.status + ")";
        try { detail = JSON.parse(xhr.responseText).detail || detail; } catch (e) { /* not JSON */ }
        reject(new Error(detail));
      });
      xhr.addEventListener("error", function () { reject(new Error("the connection to the storage failed")); });
      xhr.send(file);
    });
  }

  function setupUpload(form) {
    var input = document.getElementById("upload-file");
    var bar = document.getElementById("upload-progress");
    var status = document.getElementById("upload-status");
    var button = form.querySelector("button[type=submit]");

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var file = input.files[0];
      if (!file) { return; }
      button.disabled = true;
      bar.max = Math.max(file.size, 1);
      bar.value = 0;
      delete bar.dataset.progressEvents;
      status.textContent = "Starting…";
      try {
        var start = await post(form, form.dataset.startUrl,
          JSON.stringify({ name: file.name, content_type: file.type, size_bytes: file.size }), "application/json");
        if (!start.ok) { throw new Error(await problem(start)); }
        var ticket = await start.json();
        await put(ticket.upload_url, ticket.upload_method, file, bar, status);
        status.textContent = "Checking…";
        var sha = await digest(file);
        var done = await post(form, ticket.complete_url, JSON.stringify(sha ? { sha256: sha } : {}), "application/json");
        if (!done.ok) { throw new Error(await problem(done)); }
        bar.value = bar.max;
        status.textContent = "Uploaded " + file.name + ": done.";
        form.reset();
        if (window.htmx) {
          window.htmx.ajax("GET", window.location.pathname, { target: "#documents", select: "#documents", swap: "outerHTML" });
        }
      } catch (e) {
        status.textContent = "Upload failed: " + e.message;
      } finally {
        button.disabled = false;
      }
    });
  }

  function start() {
    var importForm = document.getElementById("csv-import");
    if (importForm) { setupImport(importForm); }
    var uploadForm = document.getElementById("upload-form");
    if (uploadForm) { setupUpload(uploadForm); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
