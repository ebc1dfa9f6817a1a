// The nouns of serverpush: changes, update specs, serializers, messages, and the names given to
// reasons and transports. The seams (change log, ORM adapter, transport)
// have files of their own.

/** What happened to a row. */
export type Op = 'insert' | 'update' | 'delete';

/** A database row as a plain object, keyed by column (or model property) name. */
export type Row = Readonly<Record<string, unknown>>;

/** A row's primary key: a scalar, or the parts of a composite key in column order. */
export type Id = string | number | ReadonlyArray<string | number>;

/** A row change as an ORM adapter reports it, before the change log gives it a position. */
export interface ChangeInput {
  /** The model's name; the Objection adapter uses the table name. */
  readonly model: string;
  readonly op: Op;
  readonly id: Id;
  /** The row after the change; `null` for a delete. */
  readonly after: Row | null;
  /** The row before the change, when the adapter could read it; `null` for an insert. */
  readonly before?: Row | null | undefined;
}

/** One committed row change with its position in the change log. */
export interface Change extends ChangeInput {
  /** When the change log appended it, in ms since the epoch. */
  readonly at: number;
  /** Its position in the change log: opaque, ordered within one log. */
  readonly cursor: string;
}

/** A value a field equality compares with. */
export type Scalar = string | number | bigint | boolean | null;

/** A function or a class: what `DataOf` leaves out. */
type Callable = ((...args: never[]) => unknown) | (abstract new (...args: never[]) => unknown);

/**
 * The data properties of a model instance: those that are not functions or classes (nor
 * objection's `QueryBuilderType`). For an objection model this is its `ModelObject<M>`.
 */
export type DataOf<Instance> = Pick<
  Instance,
  Exclude<{ [K in keyof Instance]: Instance[K] extends Callable ? never : K }[keyof Instance], 'QueryBuilderType'>
>;

/**
 * The row a spec of model `M` hands to its params, serializer and fragment: for a model class, its
 * instance's data (`ModelObject<M>` with objection); for a model name (a string), any `Row`.
 */
export type RowOf<M> = M extends abstract new (...args: never[]) => infer Instance ? DataOf<Instance> : Row;

/**
 * The paths `params` may compare for rows of type `R`: a property name, or a dotted path into a
 * property that holds an object (a JSON column: `'meta.color'`), up to three levels deep, through
 * the object's declared keys (any key, when it declares none).
 */
export type ParamPath<R> = { [K in keyof R & string]: K | NestedPath<K, R[K], []> }[keyof R & string];

/** `key.path` for the paths into `value` when it is a plain object, else `never`. */
type NestedPath<Key extends string, Value, Depth extends readonly unknown[]> = Depth['length'] extends 3
  ? never
  : NonNullable<Value> extends Callable | Date | readonly unknown[]
    ? never
    : NonNullable<Value> extends object
      ? {
          [K in keyof NonNullable<Value> & string]:
            | `${Key}.${K}`
            | NestedPath<`${Key}.${K}`, NonNullable<Value>[K], [...Depth, 0]>;
        }[keyof NonNullable<Value> & string]
      : never;

/**
 * Which rows a spec of model `M` listens to: field equalities (`{ ownerId: 7 }`, dotted paths
 * allowed) keyed to the model's columns, or a predicate over the row. Equalities compare string
 * forms, so a route param `'7'` matches `7`; booleans compare as `1` and `0`, as sqlite stores them.
 */
export type Params<Viewer = unknown, M = unknown> =
  | { readonly [P in ParamPath<RowOf<M>>]?: Scalar }
  | ((row: RowOf<M>, ctx: PushContext<Viewer>) => boolean);

/**
 * A function serializer: called with the viewer's own context, the row (after the change, or
 * before it for a delete), the spec's `data`, and the change.
 */
export type SerializerFunction<Viewer = unknown, R = Row> = (
  ctx: PushContext<Viewer>,
  row: R,
  data: unknown,
  change: Change,
) => unknown;

/**
 * Renders a row as HTML for one viewer, or `null` when this viewer is not to see it: see
 * `Fragment`.
 */
export type FragmentRender<Viewer = unknown, R = Row> = (
  row: R,
  viewer: Viewer,
  ctx: PushContext<Viewer>,
) => string | null | Promise<string | null>;

/**
 * A serializer made by `push.fragment(name, render)`: the message's `data` is the HTML `render`
 * returns for the viewer, and `null` means "nothing for this viewer": a page that showed the row
 * hears a `leave` for it, any other page hears nothing.
 */
export interface Fragment<Viewer = unknown, R = Row> {
  readonly kind: 'fragment';
  /** Its name, for logs and for sharing renders between viewers whose `vary` keys are equal. */
  readonly name: string;
  /** The model it renders rows of, when it was given one; a spec of another model is refused. */
  readonly model: unknown;
  /** Renders `row` for `viewer`: HTML, or `null` for "nothing for this viewer". */
  render(row: R, viewer: Viewer, ctx: PushContext<Viewer>): string | null | Promise<string | null>;
}

/** What one page listens to and how each matching change is serialized for it. */
export interface UpdateSpec<Viewer = unknown, M = unknown> {
  /** The browser event: `serverpush:<name>` on `document`. */
  readonly name: string;
  /** A model class known to the ORM adapter, or a model name. */
  readonly model: M;
  /** Which rows; omitted means every row of the model. */
  readonly params?: Params<Viewer, M> | undefined;
  /**
   * Without `serializer`: a field map `{ outputKey: 'path.into.row' }`. With one: passed to it
   * as is.
   */
  readonly data?: unknown;
  /**
   * A function, a fragment (`push.fragment()`), or the name of a route whose handler re-renders
   * the fragment for this viewer. A fragment made for a model must be of this spec's model; with a
   * model name, any fragment fits (its row type is the app's word).
   */
  readonly serializer?:
    | SerializerFunction<Viewer, RowOf<M>>
    | Fragment<Viewer, M extends string ? never : RowOf<M>>
    | string
    | undefined;
  /**
   * Viewers whose `vary(ctx)` keys are equal share one serialization of one change. Without it,
   * function, fragment and route serializers run once per viewer.
   */
  readonly vary?: ((ctx: PushContext<Viewer>) => string | number) | undefined;
}

/**
 * The specs an update function returns, one per model in `Models`: each spec's `params` and
 * serializer are keyed to its own model's columns.
 */
export type UpdateSpecs<Viewer = unknown, Models extends readonly unknown[] = readonly unknown[]> =
  | []
  | readonly []
  | readonly [...{ [I in keyof Models]: UpdateSpec<Viewer, Models[I]> }];

/**
 * Returns the specs a page listens to, given the viewer's context. `Models` is inferred from the
 * specs' `model`s, so that each spec's params are checked against its own model.
 */
export type UpdateFunction<
  Viewer = unknown,
  Models extends readonly unknown[] = readonly unknown[],
  Identity = unknown,
> = (ctx: PushContext<Viewer, Identity>) => UpdateSpecs<Viewer, Models> | Promise<UpdateSpecs<Viewer, Models>>;

/** The viewer's context, rebuilt on the push side from the page token. */
export interface PushContext<Viewer = unknown, Identity = unknown> {
  /** The page's path, as it was requested. */
  readonly path: string;
  /** The page's query string parameters. */
  readonly query: Readonly<Record<string, string | string[]>>;
  /** The name of the route the path matched, if any. */
  readonly route: string | undefined;
  /** The route's params, as strings. */
  readonly params: Readonly<Record<string, string>>;
  /**
   * The identity the app put into the page token (for example a user id), or `null`; as JSON
   * carried it (a `Date` arrives as a string).
   */
  readonly identity: Identity;
  /** What `authenticate(identity)` returned: the viewer (for example the user row). */
  readonly viewer: Viewer;
  /** The page request's accepted languages, most preferred first. */
  readonly languages: readonly string[];
}

/**
 * What a change did to the rows a spec shows: the row `enter`ed its filter (an insert, or an update
 * that made it match), stayed in it (`update`), or `leave`s it (a delete, or an update that made it
 * stop matching). A page adds, replaces or removes its element accordingly.
 */
export type Effect = 'enter' | 'update' | 'leave';

/** A change delivered to one page, as the browser receives it. */
export interface ChangeMessage {
  readonly cursor: string;
  /** The spec's name. */
  readonly name: string;
  readonly op: Op;
  readonly effect: Effect;
  readonly model: string;
  readonly id: Id;
  /** The serialized payload. */
  readonly data: unknown;
}

/**
 * Why a change log lost changes a reader needed: it no longer reaches back that far (`history`), or
 * the cursor is of another log or of a log that lost its data (`epoch`).
 */
export type GapReason = 'history' | 'epoch';

/**
 * Why a page is told to refresh: a gap in the log; more unacknowledged changes than it may hold
 * (`overflow`); a reader too slow for its connection (`slow`); its token expired (`expired`); its
 * viewer could no longer be authenticated or its update functions failed on `revalidate()`
 * (`revalidate`); the app ended it (`disconnect`); the change log did not answer while the page
 * rendered (`unavailable`).
 */
export type RefreshReason = GapReason | 'overflow' | 'slow' | 'expired' | 'revalidate' | 'disconnect' | 'unavailable';

/** Tells the page it cannot be brought up to date and should reload. */
export interface RefreshMessage {
  readonly name: 'refresh';
  /** Why, for logs. */
  readonly reason: RefreshReason;
}

/** One member of a presence channel, as a browser receives it (see `push.presence()`). */
export interface PresenceMember<Data = unknown> {
  /** Opaque and stable per identity and channel: two tabs of one viewer are one member. */
  readonly id: string;
  /** What the page's presence function chose to show of the viewer. */
  readonly data: Data;
}

/**
 * Who is present in a page's channel (sent only to pages whose route declares presence, and not
 * one of `Message`, which `push.poll()` returns): `here` (the members on connect, and again after a reconnect),
 * `join` and `leave` of one member, or `count` when a member beyond the `maxMembers` listed joined
 * or left. `count` is always the channel's member count.
 */
export interface PresenceMessage<Data = unknown> {
  readonly name: 'presence';
  readonly channel: string;
  readonly type: 'here' | 'join' | 'leave' | 'count';
  /** `here`: the members, up to `maxMembers`, in the order they joined. */
  readonly members?: readonly PresenceMember<Data>[];
  /** `here`: the page's own member id. */
  readonly self?: string;
  /** `join` and `leave`: who. */
  readonly member?: PresenceMember<Data>;
  readonly count: number;
}

/** What a page receives: a change message, or a refresh message. */
export type Message = ChangeMessage | RefreshMessage;

/**
 * The name of a transport: its registry key, its URL segment under the push prefix, and the name of
 * its browser half.
 */
export type TransportName = 'long-poll' | 'sse' | 'websocket' | 'jsonp';

/** Every transport name, in the order the browser client prefers them. */
export const transportNames: readonly TransportName[] = ['websocket', 'sse', 'long-poll', 'jsonp'];
