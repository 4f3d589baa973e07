// The prediction form: posts the fields as JSON to /predict (the API clients' endpoint),
// shows the answer and its interval in dollars, and puts each of the API's error details beside the field it
// names. Without this script the form posts to /ui/predict and the server renders the same.
"use strict";
(function () {
  const form = document.getElementById("predict-form");
  if (!form) { return; }
  const features = Array.from(form.querySelectorAll("input[type=text]")).map((el) => el.name);
  const formError = document.getElementById("form-error");
  const result = document.getElementById("result");
  const usd = document.getElementById("usd");
  const modelLine = document.getElementById("result-model");
  const interval = document.getElementById("interval");
  const flags = document.getElementById("result-flags");

  function value(raw) {
    const text = raw.trim();
    if (text === "") { return null; }
    const number = Number(text);
    return Number.isFinite(number) ? number : text; // the API names what is wrong
  }

  function clearErrors() {
    formError.textContent = "";
    for (const name of features) {
      document.getElementById("e-" + name).textContent = "";
      document.getElementById("f-" + name).removeAttribute("aria-invalid");
    }
  }

  function showErrors(body) {
    const general = [];
    for (const detail of body.details || []) {
      const slot = detail.field && document.getElementById("e-" + detail.field);
      if (slot && !slot.textContent) {
        slot.textContent = detail.error;
        document.getElementById("f-" + detail.field).setAttribute("aria-invalid", "true");
      } else if (!slot) {
        general.push(detail.error);
      }
    }
    formError.textContent = [body.error, ...general].filter(Boolean).join("; ");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    const payload = {};
    for (const name of features) { payload[name] = value(form.elements[name].value); }
    let response;
    try {
      response = await fetch("/predict", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(payload),
      });
    } catch (err) {
      formError.textContent = "the service did not answer: " + err.message;
      return;
    }
    const body = await response.json().catch(() => ({ error: "HTTP " + response.status }));
    if (!response.ok) {
      result.hidden = true;
      if (response.status === 401) { body.error = "your session has ended: log in again"; }
      showErrors(body);
      return;
    }
    const answer = body.predictions[0];
    usd.dataset.usd = String(answer.usd);
    const dollars = (v) => v.toLocaleString("en-US", { style: "currency", currency: "USD" });
    usd.textContent = dollars(answer.usd);
    const bounded = answer.lower_usd !== undefined;
    interval.textContent = bounded ? Math.round(100 * body.interval_coverage) + "% interval: "
      + dollars(answer.lower_usd) + " to " + dollars(answer.upper_usd) : "";
    interval.hidden = !bounded;
    modelLine.textContent = "model " + body.model.name + " version " + body.model.version;
    flags.textContent = answer.out_of_range
      ? "outside the training range: " + answer.out_of_range.join(", ") : "";
    result.hidden = false;
  });
}());
