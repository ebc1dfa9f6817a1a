// The chat's tables as Objection models. Writes to a pushable model become changes.
import { Model } from 'objection';
import { pushable } from 'serverpush/objection';

export class User extends Model {
  static override tableName = 'users';
  declare id: number;
  declare name: string;
}

export class Message extends pushable(Model) {
  static override tableName = 'messages';
  declare id: number;
  declare roomId: number;
  declare fromId: number;
  declare toId: number | null; // null: the whole room sees it; else only its two ends
  declare text: string;
}
