// Operators for admins (list, add, change role, disable or enable, reset a password) and every operator's own
// password change. The server decides who may do what (docs/api.md); this screen is shown to admins only.

import { ApiError, api } from "./api.js";
import { byId, el, show } from "./dom.js";
import { dateTime } from "./format.js";

const Roles = ["viewer", "operator", "admin"];
const MinPasswordLength = 12;

/** The rule the server applies, checked here first so the form can say what is wrong before sending. */
export function passwordProblem(password, username) {
  if (password.length < MinPasswordLength) return `The password needs at least ${MinPasswordLength} characters.`;
  if (password.toLowerCase() === username.toLowerCase()) return "The password may not be the user name.";
  return null;
}

function failureText(failure) {
  return failure instanceof ApiError ? failure.message : "The server cannot be reached. Try again in a moment.";
}

export class OperatorsScreen {
  #dialog = byId("operators-dialog");
  #body = byId("operators").querySelector("tbody");
  #error = byId("operators-error");
  #status = byId("operators-status");
  #resetForm = byId("operator-reset");
  #resetUser = null;
  #onUnauthorized;
  #onForbidden;

  constructor({ onUnauthorized, onForbidden }) {
    this.#onUnauthorized = onUnauthorized;
    this.#onForbidden = onForbidden;
    byId("operators-close").addEventListener("click", () => this.close());
    byId("operator-create").addEventListener("submit", (event) => {
      event.preventDefault();
      this.#create();
    });
    this.#resetForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#reset();
    });
    byId("operator-reset-cancel").addEventListener("click", () => this.#hideReset());
  }

  async open() {
    this.#say(null);
    this.#hideReset();
    if (!this.#dialog.open) this.#dialog.showModal();
    await this.#load();
  }

  close() {
    if (this.#dialog.open) this.#dialog.close();
  }

  async #load() {
    try {
      const { items } = await api.operators();
      this.#body.replaceChildren(...items.map((operator) => this.#row(operator)));
    } catch (failure) {
      this.#fail(failure);
    }
  }

  #row(operator) {
    const role = el("select", { "aria-label": `Role of ${operator.username}`, "data-role-of": operator.username },
      ...Roles.map((name) => el("option", { value: name, selected: name === operator.role, text: name })));
    role.addEventListener("change", () => this.#change(operator.username, { role: role.value }, `${operator.username} is now ${role.value}.`));
    const toggle = el("button", {
      type: "button",
      class: "button-small button-secondary",
      "data-toggle-of": operator.username,
      text: operator.disabled ? "Enable" : "Disable",
      onClick: () => this.#change(operator.username, { disabled: !operator.disabled },
        `${operator.username} is ${operator.disabled ? "enabled" : "disabled; their sessions have ended"}.`),
    });
    const reset = el("button", {
      type: "button",
      class: "button-small button-secondary",
      "data-reset-of": operator.username,
      text: "Reset password",
      onClick: () => this.#showReset(operator.username),
    });
    return el("tr", { "data-username": operator.username, class: operator.disabled ? "is-disabled" : null },
      el("th", { scope: "row", text: operator.username }),
      el("td", {}, role),
      el("td", { "data-account": operator.username, text: operator.disabled ? "Disabled" : "Enabled" }),
      el("td", { text: operator.lastLoginAt ? dateTime(operator.lastLoginAt) : "never" }),
      el("td", {}, el("div", { class: "row-actions" }, toggle, reset)));
  }

  async #change(username, change, done) {
    this.#say(null);
    try {
      await api.changeOperator(username, change);
      this.#say(done);
    } catch (failure) {
      this.#fail(failure);
    }
    // Read again either way: a refused change (the last admin) puts the select back.
    await this.#load();
  }

  async #create() {
    const username = byId("operator-new-username").value.trim();
    const password = byId("operator-new-password").value;
    const role = byId("operator-new-role").value;
    if (!username) {
      this.#say(null, "Enter a user name.");
      return;
    }
    const problem = passwordProblem(password, username);
    if (problem) {
      this.#say(null, problem);
      return;
    }
    try {
      await api.createOperator(username, password, role);
      byId("operator-create").reset();
      this.#say(`${username} was added as ${role}.`);
      await this.#load();
    } catch (failure) {
      this.#fail(failure);
    }
  }

  #showReset(username) {
    this.#resetUser = username;
    byId("operator-reset-username").textContent = username;
    show(this.#resetForm);
    byId("operator-reset-password").focus();
  }

  #hideReset() {
    this.#resetUser = null;
    this.#resetForm.reset();
    show(this.#resetForm, false);
  }

  async #reset() {
    const username = this.#resetUser;
    const password = byId("operator-reset-password").value;
    const problem = passwordProblem(password, username ?? "");
    if (!username || problem) {
      this.#say(null, problem ?? "Choose an operator.");
      return;
    }
    try {
      await api.resetPassword(username, password);
      this.#hideReset();
      this.#say(`The password of ${username} was set; their sessions have ended.`);
    } catch (failure) {
      this.#fail(failure);
    }
  }

  #fail(failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      this.close();
      this.#onUnauthorized();
      return;
    }
    if (failure instanceof ApiError && failure.status === 403) {
      // No longer an admin: the page reads the role again and hides this screen.
      this.close();
      this.#onForbidden();
      return;
    }
    this.#say(null, failureText(failure));
  }

  #say(status, error = null) {
    this.#status.textContent = status ?? "";
    this.#error.textContent = error ?? "";
    show(this.#error, Boolean(error));
  }
}

export class PasswordForm {
  #dialog = byId("password-dialog");
  #form = byId("password-form");
  #error = byId("password-error");
  #username = "";
  #onUnauthorized;
  #onChanged;

  constructor({ onUnauthorized, onChanged }) {
    this.#onUnauthorized = onUnauthorized;
    this.#onChanged = onChanged;
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.#submit();
    });
    byId("password-cancel").addEventListener("click", () => this.close());
  }

  open(username) {
    this.#username = username;
    this.#form.reset();
    this.#say(null);
    if (!this.#dialog.open) this.#dialog.showModal();
    byId("password-current").focus();
  }

  close() {
    if (this.#dialog.open) this.#dialog.close();
  }

  async #submit() {
    const current = byId("password-current").value;
    const next = byId("password-new").value;
    if (!current) return this.#say("Enter your current password.");
    if (next !== byId("password-confirm").value) return this.#say("The new passwords differ.");
    const problem = passwordProblem(next, this.#username);
    if (problem) return this.#say(problem);
    const submit = byId("password-submit");
    submit.disabled = true;
    try {
      await api.changePassword(current, next);
      this.close();
      this.#onChanged();
    } catch (failure) {
      if (failure instanceof ApiError && failure.status === 401) {
        this.close();
        this.#onUnauthorized();
      } else if (failure instanceof ApiError && failure.status === 403) {
        this.#say("The current password is not right.");
      } else if (failure instanceof ApiError && failure.status === 429) {
        this.#say(`Too many attempts. Try again in ${failure.retryAfter ?? "a few"} seconds.`);
      } else {
        this.#say(failureText(failure));
      }
    } finally {
      submit.disabled = false;
    }
  }

  #say(error) {
    this.#error.textContent = error ?? "";
    show(this.#error, Boolean(error));
  }
}
