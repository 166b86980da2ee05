/**
 * The daemon's logger (winston). Level and format come from config (`logging`); until the
 * config is loaded it logs text at info to stderr. Modules take a child logger:
 *   const log = logger.child({ module: 'bgp' });
 */
import winston from 'winston';
import type { LoggingConfig } from './config/types.js';

const textFormat = winston.format.printf((info) => {
  const { level, message, timestamp, module, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest).filter((k) => typeof k === 'string' && k !== 'splat');
  const tail = extra.length ? ' ' + extra.map((k) => `${k}=${fmt(rest[k])}`).join(' ') : '';
  return `${timestamp} ${String(level).padEnd(5)} ${module ? `[${module}] ` : ''}${message}${tail}`;
});

function fmt(v: unknown): string {
  if (typeof v === 'string') return /\s/.test(v) ? JSON.stringify(v) : v;
  return JSON.stringify(v);
}

function formatFor(format: LoggingConfig['format']) {
  return format === 'json'
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(winston.format.timestamp(), textFormat);
}

export const logger = winston.createLogger({
  level: process.env.BREAKWATER_LOG_LEVEL ?? 'info',
  format: formatFor('text'),
  transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug', 'verbose', 'silly'] })],
});

/** Apply the config's logging section (on start and on reload). */
export function configureLogging(cfg: LoggingConfig): void {
  logger.level = process.env.BREAKWATER_LOG_LEVEL ?? cfg.level;
  logger.format = formatFor(cfg.format);
}

export type Logger = winston.Logger;
