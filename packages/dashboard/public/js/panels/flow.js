// The message flow between agents as an SVG picture: agents on a circle, broadcasts to the centre,
// one arrow per (kind, from, to) with its count. Kinds differ by line style and label, not by
// colour alone. The list of recent messages under it says the same in words.

import { clockTime, el, replaceChildren, setText, svg, syncList } from '../dom.js';

/**
 * @typedef {import('../store.js').Row} Row
 * @typedef {import('../app.js').PanelContext} PanelContext
 * @typedef {'direct' | 'delegation' | 'mention' | 'broadcast'} EdgeKind
 * @typedef {{ kind: EdgeKind, from: string, to: string, count: number }} FlowEdge
 */

/** The centre node that broadcasts go to. */
export const EVERYONE = '*';

/**
 * The edges of the flow picture from the rows: messages (direct, broadcast, hand-offs are
 * delegations, each @mention an edge of its own) and tasks one agent created for another
 * (`reserved_for`), which is how an agent delegates work that was not already a task.
 * @param {Row[]} messages
 * @param {Row[]} tasks
 * @param {Map<string, string>} agentByIdentity
 * @returns {FlowEdge[]}
 */
export function flowEdges(messages, tasks, agentByIdentity) {
  /** @type {Map<string, FlowEdge>} */
  const edges = new Map();
  /**
   * @param {EdgeKind} kind
   * @param {string} from
   * @param {string} to
   */
  const add = (kind, from, to) => {
    if (from === to) return;
    const key = `${kind}\u0000${from}\u0000${to}`;
    const edge = edges.get(key);
    if (edge === undefined) edges.set(key, { kind, from, to, count: 1 });
    else edge.count += 1;
  };
  for (const message of messages) {
    const from = typeof message.from_agent === 'string' ? message.from_agent : undefined;
    if (from === undefined) continue;
    const to = typeof message.to_agent === 'string' ? message.to_agent : undefined;
    if (message.kind === 'handoff' && to !== undefined) add('delegation', from, to);
    else if (to === undefined) add('broadcast', from, EVERYONE);
    else add('direct', from, to);
    if (Array.isArray(message.mentions)) {
      for (const mentioned of message.mentions) if (typeof mentioned === 'string') add('mention', from, mentioned);
    }
  }
  for (const task of tasks) {
    const creator = typeof task.created_by === 'string' ? agentByIdentity.get(task.created_by) : undefined;
    if (creator !== undefined && typeof task.reserved_for === 'string') add('delegation', creator, task.reserved_for);
  }
  return [...edges.values()];
}

const SIZE = 520;
const CENTRE = SIZE / 2;
const RADIUS = 190;
const NODE_RADIUS = 42;

/**
 * Node positions: agents evenly on a circle from the top, clockwise; everyone in the centre.
 * @param {string[]} agents
 * @returns {Map<string, { x: number, y: number }>}
 */
export function layout(agents) {
  /** @type {Map<string, { x: number, y: number }>} */
  const positions = new Map();
  agents.forEach((agent, index) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * index) / Math.max(agents.length, 1);
    positions.set(agent, { x: CENTRE + RADIUS * Math.cos(angle), y: CENTRE + RADIUS * Math.sin(angle) });
  });
  positions.set(EVERYONE, { x: CENTRE, y: CENTRE });
  return positions;
}

const KIND_WORDS = /** @type {Record<EdgeKind, string>} */ ({
  direct: 'messages',
  delegation: 'delegations',
  mention: 'mentions',
  broadcast: 'broadcasts',
});

/**
 * @param {HTMLElement} container
 * @param {HTMLElement} recent
 * @param {string[]} agents
 * @param {PanelContext} context
 */
export function renderFlow(container, recent, agents, context) {
  const { store } = context;
  /** @type {Map<string, string>} */
  const agentByIdentity = new Map();
  for (const row of store.rows('agent')) {
    if (typeof row.identity === 'string' && typeof row.name === 'string') agentByIdentity.set(row.identity, row.name);
  }
  const messages = store.rows('message');
  const edges = flowEdges(messages, store.rows('task'), agentByIdentity);
  const names = [...agents];
  for (const edge of edges)
    for (const name of [edge.from, edge.to]) if (name !== EVERYONE && !names.includes(name)) names.push(name);
  const positions = layout(names);

  const summary = edges.length === 0 ? 'No messages between agents yet.' : describeEdges(edges);
  const picture = svg(
    'svg',
    { viewBox: `0 0 ${SIZE} ${SIZE}`, role: 'img', 'aria-labelledby': 'flow-title flow-description' },
    [
      svg('title', { id: 'flow-title' }, ['Messages between agents']),
      svg('desc', { id: 'flow-description' }, [summary]),
      svg('defs', {}, [
        svg(
          'marker',
          {
            id: 'arrow',
            viewBox: '0 0 10 10',
            refX: '9',
            refY: '5',
            markerWidth: '7',
            markerHeight: '7',
            orient: 'auto-start-reverse',
          },
          [svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#31475c' })],
        ),
      ]),
    ],
  );
  // Two agents talking both ways, or by several kinds, get arrows bent apart so none hides another.
  /** @type {Map<string, number>} */
  const seenPairs = new Map();
  for (const edge of edges) {
    const from = positions.get(edge.from);
    const to = positions.get(edge.to);
    if (from === undefined || to === undefined) continue;
    const pair = [edge.from, edge.to].sort().join('\u0000');
    const index = seenPairs.get(pair) ?? 0;
    seenPairs.set(pair, index + 1);
    const reversed = [edge.from, edge.to].sort()[0] !== edge.from;
    const path = curvedPath(from, to, index, reversed, edge.to === EVERYONE ? 24 : NODE_RADIUS + 4);
    picture.append(
      svg(
        'g',
        { class: `edge-group ${edge.kind}`, 'data-from': edge.from, 'data-to': edge.to, 'data-kind': edge.kind },
        [
          svg('path', { class: `edge ${edge.kind}`, d: path.d, 'marker-end': 'url(#arrow)' }),
          svg('text', { class: 'edge-label', x: path.labelX.toFixed(1), y: path.labelY.toFixed(1) }, [
            `${edge.count} ${edge.kind === 'direct' ? 'msg' : edge.kind === 'delegation' ? 'deleg.' : edge.kind === 'mention' ? '@' : 'all'}`,
          ]),
          svg('title', {}, [
            `${edge.from} → ${edge.to === EVERYONE ? 'everyone' : edge.to}: ${edge.count} ${KIND_WORDS[edge.kind]}`,
          ]),
        ],
      ),
    );
  }
  const centre = positions.get(EVERYONE);
  if (centre !== undefined) {
    picture.append(
      svg('g', { class: 'node everyone' }, [
        svg('circle', { cx: centre.x, cy: centre.y, r: 22, 'stroke-dasharray': '4 3' }),
        svg('text', { x: centre.x, y: centre.y }, ['all']),
      ]),
    );
  }
  for (const name of names) {
    const position = positions.get(name);
    if (position === undefined) continue;
    picture.append(
      svg('g', { class: 'node', 'data-agent': name }, [
        svg('circle', { cx: position.x.toFixed(1), cy: position.y.toFixed(1), r: NODE_RADIUS }),
        svg('text', { x: position.x.toFixed(1), y: position.y.toFixed(1) }, [name]),
      ]),
    );
  }
  replaceChildren(container, [picture]);

  const newest = messages.slice(-30).reverse();
  syncList(
    recent,
    newest,
    (message) => String(message.id),
    () => el('li'),
    (item, message) => setText(item, describeMessage(message)),
  );
  if (newest.length === 0) recent.replaceChildren(el('li', { class: 'muted' }, ['No messages yet.']));
}

/**
 * One message in words: "14:02:11 DevClaw → LeadClaw (hand-off): text".
 * @param {Row} message
 */
export function describeMessage(message) {
  const to = typeof message.to_agent === 'string' ? message.to_agent : 'everyone';
  const kind = message.kind === 'handoff' ? ' (hand-off)' : message.kind === 'broadcast' ? ' (broadcast)' : '';
  return `${clockTime(message.created_at)} ${String(message.from_agent)} → ${to}${kind}: ${String(message.text ?? '')}`;
}

/** @param {FlowEdge[]} edges */
function describeEdges(edges) {
  return edges
    .map(
      (edge) =>
        `${edge.from} to ${edge.to === EVERYONE ? 'everyone' : edge.to}: ${edge.count} ${KIND_WORDS[edge.kind]}`,
    )
    .join('; ');
}

/**
 * A quadratic curve between two nodes, stopping `gap` short of the target, bent by `index` so
 * parallel edges fan out; the label sits at the curve's middle.
 * @param {{ x: number, y: number }} from
 * @param {{ x: number, y: number }} to
 * @param {number} index
 * @param {boolean} reversed  the edge runs against its pair's canonical direction (B→A of A,B)
 * @param {number} gap
 */
function curvedPath(from, to, index, reversed, gap) {
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  const start = { x: from.x + ux * (NODE_RADIUS + 2), y: from.y + uy * (NODE_RADIUS + 2) };
  const end = { x: to.x - ux * gap, y: to.y - uy * gap };
  // Alternate sides of the pair's canonical direction: 0 → +18, 1 → -18, 2 → +36 ... The
  // perpendicular below turns with the direction of travel, so a reversed edge flips its sign back.
  const bend = 18 * (Math.floor(index / 2) + 1) * (index % 2 === 0 ? 1 : -1) * (reversed ? -1 : 1);
  const control = { x: (start.x + end.x) / 2 - uy * bend, y: (start.y + end.y) / 2 + ux * bend };
  const d = `M ${start.x.toFixed(1)} ${start.y.toFixed(1)} Q ${control.x.toFixed(1)} ${control.y.toFixed(1)} ${end.x.toFixed(1)} ${end.y.toFixed(1)}`;
  return { d, labelX: (start.x + 2 * control.x + end.x) / 4, labelY: (start.y + 2 * control.y + end.y) / 4 };
}
