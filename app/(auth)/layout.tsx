export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <main className="grid min-h-screen place-items-center bg-slate-900 px-4">
      <div className="w-full max-w-sm">
        <p className="mb-6 flex items-center justify-center gap-2 text-xl font-semibold text-white">
          <span aria-hidden className="grid size-8 place-items-center rounded-md bg-sky-600 text-base">
            T
          </span>
          Taskwire
        </p>
        <div className="card p-6">{children}</div>
      </div>
    </main>
  );
}
