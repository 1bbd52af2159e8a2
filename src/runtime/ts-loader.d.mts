/** Types of ts-loader.mjs (plain JavaScript, as it runs before TypeScript can be loaded). */
export declare const stripsTypes: boolean;
export declare function loaderUrl(): string;
export declare function registerLoader(): Promise<boolean>;
export declare function tsExecArgv(execArgv?: readonly string[]): string[];
export declare const compiled: boolean;
export declare const mainModule: string;
