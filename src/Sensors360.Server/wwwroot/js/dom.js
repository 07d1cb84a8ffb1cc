// Building DOM safely: text is only ever set through textContent, never parsed as HTML.

/**
 * Creates an element. `props` sets attributes (class, data-*, aria-*, …) and `text` its textContent;
 * children are nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (name === "text") {
      node.textContent = String(value);
    } else if (name === "onClick") {
      node.addEventListener("click", value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
  }
  return node;
}

export const byId = (id) => document.getElementById(id);

export function show(node, visible = true) {
  node.hidden = !visible;
}
