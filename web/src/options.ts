// Option controls generated from the schemas of GET /api/v1/processors: the page never repeats a
// default, a range or a list of choices. A control reports only values the user changed from the
// default, so a job body stays minimal (and equal settings give equal cache fingerprints).

import type { OptionSchema } from './api';

export interface OptionControl {
  schema: OptionSchema;
  element: HTMLElement;        // the wrapper to insert
  value(): unknown;            // undefined = the default
  set(value: unknown): void;   // re-run: restore a saved value (undefined = default)
}

let counter = 0;

function label(text: string, forId: string): HTMLLabelElement {
  const l = document.createElement('label');
  l.htmlFor = forId;
  l.textContent = text;
  return l;
}

export function humanName(name: string): string {
  const text = name.replace(/^(face_swapper|face_enhancer|face_debugger)_/, '').replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// Step of a slider: integers when the default and bounds are, else hundredths.
function stepFor(schema: OptionSchema): number {
  const values = [schema.min ?? 0, schema.max ?? 0, typeof schema.default === 'number' ? schema.default : 0];
  return values.every((v) => Number.isInteger(v)) && (schema.max ?? 0) - (schema.min ?? 0) > 4 ? 1 : 0.01;
}


// One labelled checkbox of a choice group (value = the choice), appended to `group`.
function checkbox(group: HTMLElement, id: string, choice: string, checked: boolean, onChange: () => void): HTMLInputElement {
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.id = id;
  box.value = choice;
  box.checked = checked;
  box.addEventListener('change', onChange);
  const l = label('', box.id);
  l.className = 'inline';
  l.append(box, ` ${choice}`);
  group.append(l);
  return box;
}

// A <fieldset> named by a <legend> (the option's name) and described by its help text: one
// control made of several inputs (checkbox groups, the four padding sliders).
function labelledGroup(className: string, name: string, helpId: string): HTMLFieldSetElement {
  const group = document.createElement('fieldset');
  group.className = className;
  group.setAttribute('aria-describedby', helpId);
  const legend = document.createElement('legend');
  legend.textContent = humanName(name);
  group.append(legend);
  return group;
}

export function createControl(schema: OptionSchema, onChange: () => void): OptionControl {
  const id = `opt-${schema.name}-${++counter}`;
  const wrap = document.createElement('div');
  wrap.className = 'opt';
  wrap.dataset.option = schema.name;
  const help = document.createElement('small');
  help.className = 'help';
  help.id = `${id}-help`;
  help.textContent = schema.help;

  if (schema.type === 'boolean') {
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.id = id;
    input.checked = schema.default === true;
    input.setAttribute('aria-describedby', help.id);
    input.addEventListener('change', onChange);
    const l = label('', id);
    l.className = 'inline';
    l.append(input, ` ${humanName(schema.name)}`);
    wrap.append(l, help);
    return {
      schema, element: wrap,
      value: () => (input.checked === (schema.default === true) ? undefined : input.checked),
      set: (v) => { input.checked = v === undefined ? schema.default === true : Boolean(v); },
    };
  }

  if (schema.type === 'string' && schema.choices && schema.choices.length > 0) {
    const select = document.createElement('select');
    select.id = id;
    select.setAttribute('aria-describedby', help.id);
    const missing = new Set(schema.missing_models ?? []);
    // No default (e.g. face_selector_gender): a first, empty choice stands for "not set".
    const unset = schema.default === null || schema.default === undefined;
    if (unset) {
      const option = document.createElement('option');
      option.value = '';
      option.textContent = 'any';
      select.append(option);
    }
    for (const choice of schema.choices) {
      const option = document.createElement('option');
      option.value = choice;
      option.textContent = missing.has(choice) ? `${choice} (model not installed)` : choice;
      option.disabled = missing.has(choice) && choice !== schema.default;
      select.append(option);
    }
    const initial = unset ? '' : String(schema.default);
    select.value = initial;
    select.addEventListener('change', onChange);
    wrap.append(label(humanName(schema.name), id), select, help);
    return {
      schema, element: wrap,
      value: () => (select.value === initial ? undefined : select.value),
      set: (v) => { select.value = v === undefined || v === null ? initial : String(v); },
    };
  }

  if (schema.type === 'number_list') {
    const group = document.createElement('fieldset');
    group.className = 'checks';
    const legend = document.createElement('legend');
    legend.textContent = humanName(schema.name);
    group.append(legend);
    const defaults = Array.isArray(schema.default) ? (schema.default as number[]).map(Number) : [];
    const boxes = (schema.choices ?? []).map((choice) =>
      checkbox(group, `${id}-${choice}`, choice, defaults.includes(Number(choice)), onChange));
    group.append(help);
    wrap.append(group);
    const current = () => boxes.filter((b) => b.checked).map((b) => Number(b.value));
    return {
      schema, element: wrap,
      value: () => {
        const v = current();
        return v.length === 0 || JSON.stringify(v) === JSON.stringify(defaults) ? undefined : v;
      },
      set: (v) => {
        const list = Array.isArray(v) ? v.map(Number) : defaults;
        for (const b of boxes) b.checked = list.includes(Number(b.value));
      },
    };
  }

  if (schema.type === 'string_list') {
    // A multi-choice: one checkbox per choice. No box ticked sends [] and the server says what to
    // tick, rather than silently falling back to the default.
    const group = labelledGroup('checks', schema.name, help.id);
    const defaults = Array.isArray(schema.default) ? (schema.default as unknown[]).map(String) : [];
    const boxes = (schema.choices ?? []).map((choice, i) =>
      checkbox(group, `${id}-${i}`, choice, defaults.includes(choice), onChange));
    group.append(help);
    wrap.append(group);
    const current = () => boxes.filter((b) => b.checked).map((b) => b.value);
    const same = (v: string[]) => v.length === defaults.length && v.every((x) => defaults.includes(x));
    return {
      schema, element: wrap,
      value: () => { const v = current(); return same(v) ? undefined : v; },
      set: (v) => {
        const list = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? v.split(/[\s,]+/) : defaults;
        for (const b of boxes) b.checked = list.includes(b.value);
      },
    };
  }

  if (schema.type === 'padding') {
    // Four sliders, top / right / bottom / left (CSS order, as the API takes them).
    const group = labelledGroup('padding', schema.name, help.id);
    const defaults = Array.isArray(schema.default) ? (schema.default as unknown[]).map(Number) : [0, 0, 0, 0];
    const sliders: HTMLInputElement[] = [];
    const outs: HTMLOutputElement[] = [];
    for (const [i, side] of ['top', 'right', 'bottom', 'left'].entries()) {
      const range = document.createElement('input');
      range.type = 'range';
      range.id = `${id}-${side}`;
      range.min = String(schema.min ?? 0);
      range.max = String(schema.max ?? 100);
      range.step = '1';
      range.value = String(defaults[i] ?? 0);
      range.dataset.side = side;
      const out = document.createElement('output');
      out.htmlFor.add(range.id);
      out.textContent = `${range.value} %`;
      range.addEventListener('input', () => { out.textContent = `${range.value} %`; });
      range.addEventListener('change', onChange);
      const l = label(`${side.charAt(0).toUpperCase()}${side.slice(1)} `, range.id);
      l.append(out);
      const cell = document.createElement('div');
      cell.append(l, range);
      group.append(cell);
      sliders.push(range);
      outs.push(out);
    }
    group.append(help);
    wrap.append(group);
    const current = () => sliders.map((r) => Number(r.value));
    return {
      schema, element: wrap,
      value: () => { const v = current(); return v.every((x, i) => x === defaults[i]) ? undefined : v; },
      set: (v) => {
        const list = Array.isArray(v) ? v.map(Number) : defaults;
        // CSS shorthand, as the server expands it.
        const full = list.length === 1 ? [list[0], list[0], list[0], list[0]]
          : list.length === 2 ? [list[0], list[1], list[0], list[1]]
            : list.length === 3 ? [list[0], list[1], list[2], list[1]] : list;
        sliders.forEach((r, i) => { r.value = String(full[i] ?? 0); outs[i].textContent = `${r.value} %`; });
      },
    };
  }

  if (schema.type === 'number' && typeof schema.default === 'number') {
    // A slider with its value beside it (and the number field for exact entry).
    const range = document.createElement('input');
    range.type = 'range';
    range.id = id;
    range.min = String(schema.min ?? 0);
    range.max = String(schema.max ?? 1);
    range.step = String(stepFor(schema));
    range.value = String(schema.default);
    range.setAttribute('aria-describedby', help.id);
    const out = document.createElement('output');
    out.htmlFor.add(id);
    out.textContent = String(schema.default);
    range.addEventListener('input', () => { out.textContent = range.value; });
    range.addEventListener('change', onChange);
    const l = label(`${humanName(schema.name)} `, id);
    l.append(out);
    wrap.append(l, range, help);
    return {
      schema, element: wrap,
      value: () => (Number(range.value) === schema.default ? undefined : Number(range.value)),
      set: (v) => { range.value = String(v === undefined ? schema.default : v); out.textContent = range.value; },
    };
  }

  // Free text, or a number whose default is "the model's own" (null): empty = the default.
  const input = document.createElement('input');
  input.id = id;
  input.setAttribute('aria-describedby', help.id);
  if (schema.type === 'number') {
    input.type = 'number';
    input.step = 'any';
    if (schema.min !== undefined) input.min = String(schema.min);
    if (schema.max !== undefined) input.max = String(schema.max);
    input.placeholder = 'default';
    input.inputMode = 'decimal';
  } else {
    input.type = 'text';
    input.placeholder = schema.default == null ? 'default' : String(schema.default);
  }
  input.addEventListener('change', onChange);
  wrap.append(label(humanName(schema.name), id), input, help);
  return {
    schema, element: wrap,
    value: () => {
      if (input.value.trim() === '') return undefined;
      return schema.type === 'number' ? Number(input.value) : input.value;
    },
    set: (v) => { input.value = v === undefined || v === null ? '' : String(v); },
  };
}
