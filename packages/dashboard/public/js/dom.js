// DOM helpers. Every piece of text from the server (agent output, memory, stimuli, names) goes into
// the page as a text node: nothing here ever assigns HTML, so markup in a stimulus shows as text.

/**
 * @typedef {{ [attribute: string]: string | number | boolean | undefined | null }} Attributes
 * @typedef {Node | string | number | null | undefined | false} Child
 */

/**
 * An element with attributes and children; strings become text nodes.
 * `false`, `null` and `undefined` attributes and children are left out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attributes = {}, children = []) {
  const element = document.createElement(tag);
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

const SVG_NAMESPACE = 'http://www.w3.org/2000/svg';

/**
 * An SVG element (namespaced) with attributes and children.
 * @param {string} tag
 * @param {Attributes} [attributes]
 * @param {Child[]} [children]
 * @returns {SVGElement}
 */
export function svg(tag, attributes = {}, children = []) {
  const element = /** @type {SVGElement} */ (document.createElementNS(SVG_NAMESPACE, tag));
  setAttributes(element, attributes);
  append(element, children);
  return element;
}

/**
 * @param {Element} element
 * @param {Attributes} attributes
 */
function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
}

/**
 * @param {Element} element
 * @param {Child[]} children
 */
function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    element.append(typeof child === 'number' ? String(child) : child);
  }
}

/**
 * The element with this id, of the expected class; a missing one is a bug in the page, said loudly.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`The page has no ${type.name} #${id}`);
  return element;
}

/**
 * Replaces an element's children.
 * @param {Element} element
 * @param {Child[]} children
 */
export function replaceChildren(element, children) {
  element.replaceChildren();
  append(element, children);
}

/**
 * Keeps `container`'s children in step with `items` by key, in order: elements of items still
 * present are updated in place (so focus, typed text and open disclosures survive a live update),
 * new ones are created, gone ones removed.
 * @template T
 * @param {Element} container
 * @param {readonly T[]} items
 * @param {(item: T) => string} keyOf
 * @param {(item: T) => HTMLElement} create
 * @param {(element: HTMLElement, item: T) => void} update
 */
export function syncList(container, items, keyOf, create, update) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child instanceof HTMLElement && child.dataset.key !== undefined) existing.set(child.dataset.key, child);
    else child.remove();
  }
  /** @type {Element | null} */
  let previous = null;
  for (const item of items) {
    const key = keyOf(item);
    let element = existing.get(key);
    if (element === undefined) {
      element = create(item);
      element.dataset.key = key;
    } else {
      existing.delete(key);
    }
    update(element, item);
    /** @type {Element | null} */
    const expectedPosition = previous === null ? container.firstElementChild : previous.nextElementSibling;
    if (expectedPosition !== element) {
      if (previous === null) container.prepend(element);
      else previous.after(element);
    }
    previous = element;
  }
  for (const element of existing.values()) element.remove();
}

/**
 * Sets an element's text only when it changed (a live region then announces real changes only).
 * @param {Element} element
 * @param {string} text
 */
export function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

/**
 * A time from the database (microseconds since the epoch, as a number or a decimal string) or an
 * ISO string, as a `Date`; `undefined` for anything else.
 * @param {unknown} value
 * @returns {Date | undefined}
 */
export function toDate(value) {
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value / 1000);
  if (typeof value === 'string' && /^\d+$/.test(value)) return new Date(Number(value) / 1000);
  if (typeof value === 'string') {
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? undefined : parsed;
  }
  return undefined;
}

/**
 * A database time as local clock time (`14:03:07`), or an empty string.
 * @param {unknown} value
 */
export function clockTime(value) {
  const date = toDate(value);
  return date === undefined ? '' : date.toLocaleTimeString([], { hour12: false });
}

/**
 * "3 s ago", "5 min ago", "2 h ago"; "in 4 min" for the future.
 * @param {unknown} value
 * @param {number} [now]
 */
export function relativeTime(value, now = Date.now()) {
  const date = toDate(value);
  if (date === undefined) return '';
  const seconds = Math.round((date.getTime() - now) / 1000);
  const magnitude = Math.abs(seconds);
  const amount =
    magnitude < 60
      ? `${magnitude} s`
      : magnitude < 3600
        ? `${Math.round(magnitude / 60)} min`
        : magnitude < 172_800
          ? `${Math.round(magnitude / 3600)} h`
          : `${Math.round(magnitude / 86_400)} days`;
  return seconds > 0 ? `in ${amount}` : `${amount} ago`;
}

/**
 * A whole number with thousands separators.
 * @param {number} value
 */
export function formatCount(value) {
  return Math.round(value).toLocaleString('en-US');
}
